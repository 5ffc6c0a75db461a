// CRC-32C (Castagnoli) for metadata slots and bitmap pages. Opening a 1 TiB disk checksums
// 17 MB of bitmap pages, so the SSE4.2 `crc32` instruction is used where the CPU has it.
#ifndef CRDRCHECKSUM_H
#define CRDRCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C of `length` bytes continuing from `crc` (0 to start; the previous result to
/// continue): the instruction where the CPU has SSE4.2, else `rdr_crc32c_table`.
uint32_t rdr_crc32c(uint32_t crc, const void *bytes, size_t length);
/// The same by table (slicing-by-8): the path of CPUs without SSE4.2, callable on any CPU so
/// tests hold the two to the same results.
uint32_t rdr_crc32c_table(uint32_t crc, const void *bytes, size_t length);

#endif
