# actuators.cmake: the node's actuator shells (the exec actuator; webhook alerts) and their tests.
# md_actuators uses md_node's curl loop, log and clock; md_node links md_actuators, so the tests
# link both (md_actuators first) rather than md_actuators linking md_node, which would be a cycle.
add_library(md_actuators STATIC
  node/exec_actuator.c
  node/alert_bodies.c
  node/alerts.c
  node/alerts_setup.c
)
target_include_directories(md_actuators PUBLIC node)
target_link_libraries(md_actuators PUBLIC md_pure md_util PkgConfig::UV PkgConfig::CURL PkgConfig::CJSON)

foreach(name test_exec_actuator test_alerts)
  add_executable(${name} tests/unit/${name}.c)
  target_link_libraries(${name} PRIVATE md_actuators md_node PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()
