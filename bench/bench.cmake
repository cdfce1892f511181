# Benchmarks (not tests): their results go to bench/RESULTS.md.
add_executable(bench_step bench/bench_step.c)
target_link_libraries(bench_step PRIVATE hpff)
