# chaos.cmake: the programs `medic chaos` and `medic demo` run besides medic itself: the demo
# service (flaky_service), the fake Railway API, the link relay and the chaos harness
# (medic-chaos). Built in every build, tests or not, and installed into ${prefix}/libexec/medic,
# where an installed medic finds them (node/cmd/chaos.c, demo.c). Included from CMakeLists.txt.
add_executable(flaky_service ${CMAKE_SOURCE_DIR}/tests/fakes/flaky_service.c)
target_link_libraries(flaky_service PRIVATE PkgConfig::UV)
include(${CMAKE_SOURCE_DIR}/tests/fakes/relay.cmake)
add_executable(fake_railway
  ${CMAKE_SOURCE_DIR}/tests/fakes/fake_railway.c
  ${CMAKE_SOURCE_DIR}/tests/fakes/fake_railway_http.c
  ${CMAKE_SOURCE_DIR}/tests/fakes/fake_railway_model.c
  ${CMAKE_SOURCE_DIR}/tests/fakes/fake_railway_gql.c
  ${CMAKE_SOURCE_DIR}/tests/fakes/fake_railway_exec.c
  ${CMAKE_SOURCE_DIR}/tests/fakes/fake_railway_project.c
)
target_link_libraries(fake_railway PRIVATE PkgConfig::UV PkgConfig::CJSON)

add_executable(medic-chaos
  ${CMAKE_CURRENT_LIST_DIR}/main.c ${CMAKE_CURRENT_LIST_DIR}/world.c ${CMAKE_CURRENT_LIST_DIR}/cluster.c
  ${CMAKE_CURRENT_LIST_DIR}/watch.c ${CMAKE_CURRENT_LIST_DIR}/checks.c ${CMAKE_CURRENT_LIST_DIR}/scen.c
  ${CMAKE_CURRENT_LIST_DIR}/report.c)
target_link_libraries(medic-chaos PRIVATE md_base PkgConfig::CJSON PkgConfig::CURL)
add_dependencies(medic-chaos medic relay fake_railway flaky_service)

set(MD_LIBEXEC_DIR ${CMAKE_INSTALL_LIBEXECDIR}/medic)
install(TARGETS medic-chaos relay fake_railway flaky_service RUNTIME DESTINATION ${MD_LIBEXEC_DIR})

# One run of every scenario with short timings, in `make test`: as root in network namespaces,
# otherwise the loopback subset (it says what it skipped). chaos.loopback keeps the loopback
# path tested on a root machine too. The full matrix is `make chaos`.
md_test(chaos.quick SERIAL TIMEOUT 600 COMMAND medic-chaos --quick --results ${CMAKE_BINARY_DIR}/chaos-results)
md_test(chaos.loopback SERIAL TIMEOUT 300 COMMAND medic-chaos --quick --loopback --scenario crash,leader_frozen,storm_429
  --results ${CMAKE_BINARY_DIR}/chaos-results)
