# bench.cmake: the benchmark programs (run by the scripts in bench/, not by the tests).
add_executable(gossip_bench ${CMAKE_SOURCE_DIR}/bench/gossip_bench.c)
target_link_libraries(gossip_bench PRIVATE md_transport)

add_executable(failover_bench ${CMAKE_SOURCE_DIR}/bench/failover_bench.c ${CMAKE_SOURCE_DIR}/bench/failover_commit.c)
target_link_libraries(failover_bench PRIVATE md_base PkgConfig::CJSON m)

add_executable(loop_ceiling ${CMAKE_SOURCE_DIR}/bench/loop_ceiling.c)
target_link_libraries(loop_ceiling PRIVATE md_base)
