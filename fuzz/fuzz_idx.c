/* fuzz/fuzz_idx.c — libFuzzer target for the IDX parser (nbd_idx_parse, the code behind
 * nb_idx_read): arbitrary bytes, gzipped or not, must give a tensor whose size matches its header or
 * a clean error — never a crash, an out-of-bounds access, a leak or an allocation the input cannot
 * justify. */
#include "data/data_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_tensor *t = nbd_idx_parse(data, size, "fuzz-input");
    if (t) {
        /* The result must be as large as it claims: touch its first and last byte. */
        size_t bytes = (size_t)nb_numel(t) * nb_dtype_size(nb_dtype_of(t));
        if (bytes) {
            volatile const uint8_t *p = nb_data(t);
            (void)p[0];
            (void)p[bytes - 1];
        }
        if (nb_last_status() != NB_OK) abort(); /* success must not leave an error behind */
        nb_free(t);
    } else if (nb_last_status() == NB_OK || nb_last_error()[0] == 0) {
        abort(); /* failure must explain itself */
    }
    nb_clear_error();
    return 0;
}
