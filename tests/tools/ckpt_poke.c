// ckpt_poke.c — damages a checkpoint file for the fault tests: flips one byte in the middle of
// the stored bytes of a dataset (its first chunk when chunked), as a bad disk or a stray write
// would. usage: ckpt_poke FILE.h5 DATASET   (exit 0 after the byte was flipped)
#include <hdf5.h>
#include <stdio.h>

// File offset and stored size of the dataset's first chunk, or of its contiguous data.
static int locate(const char *file, const char *name, haddr_t *at, hsize_t *size) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), dcpl = ds < 0 ? -1 : H5Dget_create_plist(ds);
    int ok = ds >= 0;
    if (ok && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t off[1];
        unsigned mask;
        hid_t sp = H5Dget_space(ds);
        ok = H5Dget_chunk_info(ds, sp, 0, off, &mask, at, size) >= 0;
        H5Sclose(sp);
    } else if (ok) {
        *at = H5Dget_offset(ds);
        *size = H5Dget_storage_size(ds);
        ok = *at != HADDR_UNDEF;
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (ds >= 0) H5Dclose(ds);
    H5Fclose(f);
    return ok && *size > 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: ckpt_poke FILE.h5 DATASET\n");
        return 2;
    }
    haddr_t at = 0;
    hsize_t size = 0;
    if (!locate(argv[1], argv[2], &at, &size)) {
        fprintf(stderr, "ckpt_poke: cannot locate dataset '%s' in %s\n", argv[2], argv[1]);
        return 1;
    }
    long pos = (long)(at + size / 2);
    FILE *fp = fopen(argv[1], "r+b");
    int c = fp && fseek(fp, pos, SEEK_SET) == 0 ? fgetc(fp) : EOF;
    int ok = c != EOF && fseek(fp, pos, SEEK_SET) == 0 && fputc(c ^ 0x40, fp) != EOF;
    if (fp && fclose(fp) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "ckpt_poke: cannot rewrite byte %ld of %s\n", pos, argv[1]);
        return 1;
    }
    printf("ckpt_poke: flipped bit 6 of byte %ld (dataset %s) in %s\n", pos, argv[2], argv[1]);
    return 0;
}
