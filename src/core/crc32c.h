/* crc32c.h - CRC-32C (Castagnoli), the checksum of buffer records and state files.
 * Uses the SSE4.2 instruction when the CPU has it, a table otherwise. */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, data, n) for a fresh checksum; pass a previous result to continue. */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

#endif
