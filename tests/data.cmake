# data tests: dataset file validation, the loader (order, augmentation, threads, resume), and
# the hpff_data converters on synthetic files in each original format.
hpff_test(test_data_load cpu test_data_load.c)
hpff_test(test_data_loader cpu test_data_loader.c)
if(HPFF_HAVE_CONVERTERS)
  hpff_test(test_data_convert cpu test_data_convert.c)
  target_link_libraries(test_data_convert PRIVATE PkgConfig::HPFF_CONV)
  target_compile_definitions(test_data_convert PRIVATE
    HPFF_DATA_EXE="$<TARGET_FILE:hpff_data>"
    HPFF_H5PY_CHECK="${CMAKE_CURRENT_SOURCE_DIR}/data/check_h5py.py")
  add_dependencies(test_data_convert hpff_data)
endif()
