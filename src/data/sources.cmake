# src/data: dataset files, the loader, augmentation (libhpff; the converters are datasets/).
set(HPFF_DATA_SOURCES
  src/data/dataset.c      # dataset reader with validation
  src/data/loader.c       # the prefetching loader
  src/data/augment.c      # data order, random draws, augmentation rendering (ALGORITHM §6)
  src/data/dsfile.c       # all-or-nothing writer of the dataset layout (hpff_data, tests, bench)
  src/data/h5util.c       # HDF5 helpers: quiet errors, attributes, type names
)
