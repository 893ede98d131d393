/* fuzz/fuzz_npz.c — libFuzzer target for the .npz reader (nbio_npz_parse, behind nb_npz_load): zip
 * records (ZIP64 included), member names, offsets, sizes, CRCs and deflate streams from arbitrary
 * bytes must give arrays or a clean error — never a crash, an out-of-bounds access, a leak, or a
 * decompression larger than deflate can produce from the input (zip bombs). */
#include "io/io_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_params *p = nbio_npz_parse("fuzz", data, size, "fuzz-input");
    if (p) {
        for (int i = 0; i < nb_params_count(p); i++) {
            nb_tensor *t = nb_params_get(p, i);
            size_t bytes = (size_t)nb_numel(t) * nb_dtype_size(nb_dtype_of(t));
            if (bytes) {
                volatile const uint8_t *q = nb_data(t);
                (void)q[0];
                (void)q[bytes - 1];
            }
        }
        if (nb_last_status() != NB_OK) abort();
        nb_params_free(p);
    } else if (nb_last_status() == NB_OK || nb_last_error()[0] == 0) {
        abort();
    }
    nb_clear_error();
    return 0;
}
