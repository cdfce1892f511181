# src/data: dataset files, the loaders, augmentation (libhpff; the converters are datasets/).
set(HPFF_DATA_SOURCES
  src/data/dataset.c      # pixel dataset reader with validation
  src/data/loader.c       # the pixel loader: a sample source for the batch ring
  src/data/ring.c         # the prefetching batch ring shared by every layout (hpff_loader)
  src/data/sampler.c      # epoch order and a data-parallel replica's share of it
  src/data/augment.c      # data order, random draws, augmentation rendering (ALGORITHM §6)
  src/data/dsfile.c       # all-or-nothing writer of the dataset layout (hpff_data, tests, bench)
  src/data/h5util.c       # HDF5 helpers: quiet errors, attributes, type names
  src/data/jpegds.c       # encoded-JPEG dataset reader (one or many shard files, pread)
  src/data/jpeg_tf.c      # ImageNet transform geometry (RandomResizedCrop, resize + centre crop)
  src/data/resample.c     # Pillow-equivalent antialiased bilinear resampling
)
# The JPEG decoder of the loader: libjpeg-turbo's libjpeg API (region decoding needs
# jpeg_crop_scanline / jpeg_skip_scanlines, libjpeg-turbo >= 1.5). Without it the trainer still
# builds and refuses encoded-JPEG datasets with a message.
set(HPFF_HAVE_JPEG OFF)
if(PkgConfig_FOUND)
  pkg_check_modules(HPFF_JPEG QUIET IMPORTED_TARGET libjpeg)
endif()
if(HPFF_JPEG_FOUND)
  include(CheckSymbolExists)
  set(CMAKE_REQUIRED_INCLUDES ${HPFF_JPEG_INCLUDE_DIRS})
  set(CMAKE_REQUIRED_LIBRARIES ${HPFF_JPEG_LINK_LIBRARIES})
  check_symbol_exists(jpeg_crop_scanline "stdio.h;jpeglib.h" HPFF_JPEG_HAS_CROP)
  unset(CMAKE_REQUIRED_INCLUDES)
  unset(CMAKE_REQUIRED_LIBRARIES)
  if(HPFF_JPEG_HAS_CROP)
    set(HPFF_HAVE_JPEG ON)
  endif()
endif()
if(HPFF_HAVE_JPEG)
  message(STATUS "hpff: JPEG loader with libjpeg-turbo ${HPFF_JPEG_VERSION}")
  list(APPEND HPFF_DATA_SOURCES
    src/data/jpeg_dec.c     # region / DCT-scaled decoding (libjpeg-turbo)
    src/data/jpeg_loader.c  # the encoded-JPEG sample source
  )
else()
  message(STATUS "hpff: JPEG loader NOT built (needs libjpeg-turbo >= 1.5: libjpeg62-turbo-dev)")
endif()
