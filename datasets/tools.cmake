# The hpff_data converter executable and the loader benchmark. The converters need matio,
# libpng, libjpeg and zlib (launch/install-deps.sh installs them); without them the trainer
# still builds (a machine that only trains on existing .h5 files, e.g. a GPU node).
if(PkgConfig_FOUND)
  pkg_check_modules(HPFF_CONV QUIET IMPORTED_TARGET matio libpng libjpeg zlib)
endif()
set(HPFF_HAVE_CONVERTERS ${HPFF_CONV_FOUND})
if(NOT HPFF_HAVE_CONVERTERS)
  message(STATUS "hpff: hpff_data NOT built (needs matio, libpng, libjpeg, zlib: launch/install-deps.sh)")
else()
message(STATUS "hpff: hpff_data converters with matio ${HPFF_CONV_matio_VERSION}, "
               "libpng ${HPFF_CONV_libpng_VERSION}, libjpeg ${HPFF_CONV_libjpeg_VERSION}")
add_executable(hpff_data
  datasets/hpff_data.c      # command line, progress, summary
  datasets/convert.c        # format table and shared reading helpers
  datasets/fmt_binary.c     # fashion-mnist (idx .gz), cifar10, cifar100, stl10
  datasets/fmt_svhn.c       # svhn (.mat through libmatio)
  datasets/fmt_folder.c     # folder of PNG / JPEG files
)
target_include_directories(hpff_data PRIVATE datasets)
target_link_libraries(hpff_data PRIVATE hpff PkgConfig::HPFF_CONV)
# `hpff_data imagenet` (encoded-JPEG output) needs the loader's JPEG decoder and TurboJPEG.
pkg_check_modules(HPFF_TURBOJPEG QUIET IMPORTED_TARGET libturbojpeg)
if(HPFF_HAVE_JPEG AND HPFF_TURBOJPEG_FOUND)
  set(HPFF_HAVE_IMAGENET_CONV ON)
  message(STATUS "hpff: hpff_data imagenet with TurboJPEG ${HPFF_TURBOJPEG_VERSION}")
  target_sources(hpff_data PRIVATE
    datasets/imagenet_conv.c  # hpff_data imagenet: options, threads, shards, progress, summary
    datasets/imagenet_list.c  # ILSVRC2012 folder listing and validation labels
    datasets/imagenet_img.c   # read, check, re-encode one image
    datasets/jpeg_writer.c    # all-or-nothing writer of the encoded-JPEG layout
  )
  target_link_libraries(hpff_data PRIVATE PkgConfig::HPFF_TURBOJPEG)
  target_compile_definitions(hpff_data PRIVATE HPFF_IMAGENET=1)
else()
  set(HPFF_HAVE_IMAGENET_CONV OFF)
  message(STATUS "hpff: hpff_data imagenet NOT built (needs libjpeg-turbo and libturbojpeg0-dev)")
endif()
endif()

add_executable(bench_loader bench/bench_loader.c)
target_link_libraries(bench_loader PRIVATE hpff)
