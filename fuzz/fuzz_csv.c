/* fuzz/fuzz_csv.c — libFuzzer target for the numeric CSV parser (nbd_csv_parse, the code behind
 * nb_csv_read). The first byte picks the options (delimiter, header, dtype); the rest is the file.
 * Every input must give a (rows, cols) tensor or a clean error with a message. */
#include "data/data_internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char delims[4] = {',', ';', '\t', ' '};
    nb_csv_opts o = {.delimiter = delims[data[0] & 3],
                     .has_header = (data[0] >> 2) & 1,
                     .dtype = (nb_dtype)((data[0] >> 3) % NB_DTYPE_COUNT)};
    nb_tensor *t = nbd_csv_parse(data + 1, size - 1, "fuzz-input", &o);
    if (t) {
        if (nb_ndim(t) != 2 || nb_size(t, 0) < 1 || nb_size(t, 1) < 1 || nb_dtype_of(t) != o.dtype) abort();
        nb_free(t);
    } else if (nb_last_status() == NB_OK || nb_last_error()[0] == 0) {
        abort();
    }
    nb_clear_error();
    return 0;
}
