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
# One step of each ImageNet network family (bottleneck ResNet, ResNeXt 32x8d, VGG13) against torchvision.
hpff_test(test_golden_imagenet cpu test_golden_imagenet.c)
target_compile_definitions(test_golden_imagenet PRIVATE HPFF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# One InfoPro+HPFF step (ImageNet code profile) against a re-statement of the authors' ImageNet code.
hpff_test(test_golden_imagenet_infopro cpu test_golden_imagenet_infopro.c)
target_compile_definitions(test_golden_imagenet_infopro PRIVATE HPFF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# Weights under state_dict names: export of a two-rank checkpoint, --init-from, refusals.
hpff_test(test_weights cpu test_weights.c)

# Tools for the trainer tests and the tiny dataset they share.
add_executable(make_tiny_dataset tools/make_tiny_dataset.c)
target_link_libraries(make_tiny_dataset PRIVATE hpff)
add_executable(ckpt_diff tools/ckpt_diff.c)
target_link_libraries(ckpt_diff PRIVATE hpff)
# Fault injection (tests/trainer/test_faults.sh): a damaged checkpoint byte, a full disk.
add_executable(ckpt_poke tools/ckpt_poke.c)
target_link_libraries(ckpt_poke PRIVATE hpff)
add_library(enospc_shim MODULE tools/enospc_shim.c)
target_link_libraries(enospc_shim PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(enospc_shim PROPERTIES PREFIX "")
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
hpff_script_test(trainer_faults cpu test_faults.sh data disk corrupt lock edges auto signal)
# hpff_export / --init-from against torchvision's state_dict (skipped without torch)
hpff_script_test(weights_torchvision cpu test_weights_torchvision.sh)
set_tests_properties(weights_torchvision PROPERTIES SKIP_RETURN_CODE 77)
hpff_script_test(export_analysis cpu test_export.sh cpu)   # feature export + analysis/ (issue 17)
hpff_test(test_layers_fd cpu test_layers_fd.c)
hpff_test(test_hilo_ref cpu test_hilo_ref.c)
# The plan's memory column: one sizing build counts exactly what each rank allocates.
hpff_test(test_rank_bytes cpu test_rank_bytes.c)
if(HPFF_HAVE_MPI)
  hpff_script_test(pipeline_mpi_dgl mpi test_pipeline.sh dgl)
  hpff_script_test(pipeline_mpi_infopro mpi test_pipeline.sh infopro)   # the image travels too
  hpff_script_test(trainer_faults_mpi mpi test_faults.sh signal_mpi)     # pre-emption on 2 ranks
  hpff_script_test(pipeline_mpi_imagenet mpi test_imagenet_pipeline.sh)  # bottleneck / ResNeXt K=4
  hpff_script_test(export_mpi mpi test_export.sh mpi)
endif()
# Every shipped config parses and validates.
add_test(NAME configs_parse COMMAND bash -c
  "rc=0; for f in ${PROJECT_SOURCE_DIR}/configs/*.ini; do $<TARGET_FILE:hpff_pipe> --config $f --print-config > /dev/null || { echo \"bad: $f\"; rc=1; }; done; exit $rc")
set_tests_properties(configs_parse PROPERTIES LABELS cpu)
# Replicas of the pipeline (PP x DP): the grid's rules, and its communication on 4 ranks.
hpff_test(test_grid cpu test_grid.c)
if(HPFF_HAVE_MPI)
  add_executable(test_replicas_mpi test_replicas_mpi.c)
  target_link_libraries(test_replicas_mpi PRIVATE hpff)
  target_include_directories(test_replicas_mpi PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_test(NAME test_replicas_mpi COMMAND ${HPFF_MPIEXEC} --oversubscribe -np 4 $<TARGET_FILE:test_replicas_mpi>)
  set_tests_properties(test_replicas_mpi PROPERTIES LABELS mpi SKIP_RETURN_CODE 77 TIMEOUT 120
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
  # 2 replicas against the hand computation (shard gradients averaged, one SGD step), strict and delayed
  add_executable(test_dp_step test_dp_step.c)
  target_link_libraries(test_dp_step PRIVATE hpff)
  target_include_directories(test_dp_step PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_test(NAME test_dp_step COMMAND ${HPFF_MPIEXEC} --oversubscribe -np 2 $<TARGET_FILE:test_dp_step>)
  set_tests_properties(test_dp_step PROPERTIES LABELS mpi SKIP_RETURN_CODE 77 TIMEOUT 120
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endif()
if(HPFF_HAVE_MPI)
  hpff_script_test(replicas_mpi mpi test_replicas.sh)   # S stages x R replicas of the pipeline
endif()
