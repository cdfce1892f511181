# FindDNNL — oneDNN's C API (dnnl.h, libdnnl) without its CMake package: Debian's
# dnnl-config.cmake requires the OpenCL development files even for CPU-only use.
# Sets DNNL_FOUND, DNNL_VERSION, DNNL_CPU_RUNTIME (OMP, TBB, SEQ, THREADPOOL, ...) and the
# imported target DNNL::dnnl.
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(DNNL_LIBRARY dnnl)
set(DNNL_VERSION "")
set(DNNL_CPU_RUNTIME "")
if(DNNL_INCLUDE_DIR)
  file(STRINGS "${DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" _v REGEX "#define DNNL_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX MATCH "DNNL_VERSION_${_part} ([0-9]+)" _m "${_v}")
    list(APPEND _ver "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN _ver "." DNNL_VERSION)
  file(STRINGS "${DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_config.h" _rt REGEX "^#define DNNL_CPU_RUNTIME ")
  string(REGEX MATCH "DNNL_RUNTIME_([A-Z]+)" _m "${_rt}")
  set(DNNL_CPU_RUNTIME "${CMAKE_MATCH_1}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(DNNL REQUIRED_VARS DNNL_LIBRARY DNNL_INCLUDE_DIR VERSION_VAR DNNL_VERSION)
if(DNNL_FOUND AND NOT TARGET DNNL::dnnl)
  add_library(DNNL::dnnl UNKNOWN IMPORTED)
  set_target_properties(DNNL::dnnl PROPERTIES IMPORTED_LOCATION "${DNNL_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${DNNL_INCLUDE_DIR}")
endif()
mark_as_advanced(DNNL_INCLUDE_DIR DNNL_LIBRARY)
