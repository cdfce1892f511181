# The hpff_data converter executable and the loader benchmark.
pkg_check_modules(HPFF_CONV REQUIRED IMPORTED_TARGET matio libpng libjpeg zlib)
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

add_executable(bench_loader bench/bench_loader.c)
target_link_libraries(bench_loader PRIVATE hpff)
