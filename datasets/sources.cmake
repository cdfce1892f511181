# Data layer linked into libhpff (dataset reader, loader).
set(HPFF_DATA_SOURCES
  src/data.c        # dataset reader with validation; the prefetching loader
  src/augment.c     # data order, random draws, augmentation rendering (ALGORITHM §6)
  src/dsfile.c      # all-or-nothing writer of the dataset layout (hpff_data, tests, bench)
  src/h5util.c      # HDF5 helpers: quiet errors, attributes, type names
)
