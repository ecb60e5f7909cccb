/* version.h - the sluice release version, shown by `sluice version` and in
 * the sluice_build_info metric. */
#ifndef SL_VERSION_H
#define SL_VERSION_H

#define SLUICE_VERSION "0.1.0"

#endif
