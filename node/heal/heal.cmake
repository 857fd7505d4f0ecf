# heal.cmake: md_heal, the remediation shell: drives md_remedy on the loop, runs actions through
# the exec and Railway actuators, sends alerts.
md_module(md_heal heal
  SOURCES heal.c heal_exec.c heal_render.c heal_rw.c rw_host.c exec_actuator.c alerts.c alert_bodies.c alerts_setup.c
  LIBS md_remedy md_cluster md_config md_view md_base md_railway md_util PkgConfig::CJSON)

foreach(t IN ITEMS test_exec_actuator test_alerts)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_heal)
endforeach()
