# Layers, networks, the training step, checkpoints, the trainer binary.
hpff_test(test_golden_bp cpu test_golden_bp.c)
target_compile_definitions(test_golden_bp PRIVATE HPFF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# One InfoPro+HPFF step and its SGD update against the authors' model code: one binary, one
# fixture per case (architecture, K, batch, split and head map come from the fixture).
add_executable(test_golden_infopro test_golden_infopro.c)
target_link_libraries(test_golden_infopro PRIVATE hpff)
target_include_directories(test_golden_infopro PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
foreach(case r32k8 r32k16 r110k55)
  add_test(NAME test_golden_infopro_${case}
           COMMAND test_golden_infopro ${PROJECT_SOURCE_DIR}/tests/golden/infopro_${case}.h5)
  set_tests_properties(test_golden_infopro_${case} PROPERTIES LABELS cpu
                       WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endforeach()
# One DGL+HPFF step (HiLo + PFF-B) against PyTorch's literal x/y/z streams.
hpff_test(test_golden_hpff_dgl cpu test_golden_hpff_dgl.c)
target_compile_definitions(test_golden_hpff_dgl PRIVATE HPFF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Tools for the trainer tests and the tiny dataset they share.
add_executable(make_tiny_dataset tools/make_tiny_dataset.c)
target_link_libraries(make_tiny_dataset PRIVATE hpff)
add_executable(ckpt_diff tools/ckpt_diff.c)
target_link_libraries(ckpt_diff PRIVATE hpff)
set(HPFF_TINY_DATA ${CMAKE_CURRENT_BINARY_DIR}/tiny.h5)
add_test(NAME make_tiny_data COMMAND make_tiny_dataset ${HPFF_TINY_DATA} 256 16)
set_tests_properties(make_tiny_data PROPERTIES FIXTURES_SETUP tiny LABELS "cpu;mpi")

# hpff_script_test(NAME LABEL SCRIPT [ARGS...]) — a trainer test script on the tiny data.
function(hpff_script_test name label script)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/trainer/${script}
           ${PROJECT_BINARY_DIR} ${HPFF_TINY_DATA} ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS ${label} FIXTURES_REQUIRED tiny TIMEOUT 600)
endfunction()
hpff_script_test(trainer_cli cpu test_cli.sh)
hpff_script_test(trainer_resume_bp cpu test_resume.sh bp)
hpff_script_test(export_analysis cpu test_export.sh cpu)   # feature export + analysis/ (issue 17)
hpff_test(test_layers_fd cpu test_layers_fd.c)
hpff_test(test_hilo_ref cpu test_hilo_ref.c)
# The plan's memory column: one sizing build counts exactly what each rank allocates.
hpff_test(test_rank_bytes cpu test_rank_bytes.c)
if(HPFF_HAVE_MPI)
  hpff_script_test(pipeline_mpi_dgl mpi test_pipeline.sh dgl)
  hpff_script_test(pipeline_mpi_infopro mpi test_pipeline.sh infopro)   # the image travels too
  hpff_script_test(export_mpi mpi test_export.sh mpi)
endif()
# Every shipped config parses and validates.
add_test(NAME configs_parse COMMAND bash -c
  "rc=0; for f in ${PROJECT_SOURCE_DIR}/configs/*.ini; do $<TARGET_FILE:hpff_pipe> --config $f --print-config > /dev/null || { echo \"bad: $f\"; rc=1; }; done; exit $rc")
set_tests_properties(configs_parse PROPERTIES LABELS cpu)
