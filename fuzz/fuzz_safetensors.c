/* fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader (nbio_st_parse, the code
 * behind nb_safetensors_load / nb_safetensors_parse): arbitrary bytes must give tensors whose sizes
 * match the header and lie inside the input, or a clean error — never a crash, an out-of-bounds
 * access, a leak or an allocation the input cannot justify. */
#include "io/io_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_metadata *meta = NULL;
    nb_params *p = nbio_st_parse("fuzz", data, size, "fuzz-input", NULL, &meta);
    if (p) {
        for (int i = 0; i < nb_params_count(p); i++) {
            nb_tensor *t = nb_params_get(p, i);
            size_t bytes = (size_t)nb_numel(t) * nb_dtype_size(nb_dtype_of(t));
            if (bytes) {
                volatile const uint8_t *q = nb_data(t);
                (void)q[0];
                (void)q[bytes - 1];
            }
            if (bytes > size) abort(); /* a tensor can never be larger than its file */
        }
        for (int i = 0; i < nb_metadata_count(meta); i++) {
            volatile size_t n = strlen(nb_metadata_key(meta, i)) + strlen(nb_metadata_value(meta, i));
            (void)n;
        }
        if (nb_last_status() != NB_OK) abort();
        nb_params_free(p);
        nb_metadata_free(meta);
    } else if (meta || nb_last_status() == NB_OK || nb_last_error()[0] == 0) {
        abort(); /* failure must explain itself and hand back nothing */
    }
    nb_clear_error();
    return 0;
}
