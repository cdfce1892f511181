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
# The ImageNet path: converter, encoded-JPEG reader, JPEG loader, checks against PIL and
# torchvision (tests/data/imagenet_fixture.py), a short training run and a bit-exact resume.
if(HPFF_HAVE_IMAGENET_CONV)
  hpff_test(test_data_imagenet cpu test_data_imagenet.c)
  target_compile_definitions(test_data_imagenet PRIVATE
    HPFF_DATA_EXE="$<TARGET_FILE:hpff_data>" HPFF_PIPE_EXE="$<TARGET_FILE:hpff_pipe>"
    HPFF_PYTHON="/usr/bin/python3" HPFF_FIXTURE="${CMAKE_CURRENT_SOURCE_DIR}/data/imagenet_fixture.py"
    HPFF_SOURCE_DIR="${PROJECT_SOURCE_DIR}" HPFF_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_dependencies(test_data_imagenet hpff_data hpff_pipe ckpt_diff)
  set_tests_properties(test_data_imagenet PROPERTIES TIMEOUT 300)
endif()
