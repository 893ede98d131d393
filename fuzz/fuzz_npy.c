/* fuzz/fuzz_npy.c — libFuzzer target for the .npy reader (nbio_npy_parse, behind nb_npy_load): any
 * header dict, version, dtype, byte order and Fortran flag must give a tensor whose size matches the
 * data, or a clean error. */
#include "io/io_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_tensor *t = nbio_npy_parse("fuzz", data, size, "fuzz-input");
    if (t) {
        size_t bytes = (size_t)nb_numel(t) * nb_dtype_size(nb_dtype_of(t));
        if (bytes) {
            volatile const uint8_t *p = nb_data(t);
            (void)p[0];
            (void)p[bytes - 1];
        }
        if (bytes > 2 * size) abort(); /* widening at most doubles the data */
        if (nb_last_status() != NB_OK) abort();
        nb_free(t);
    } else if (nb_last_status() == NB_OK || nb_last_error()[0] == 0) {
        abort();
    }
    nb_clear_error();
    return 0;
}
