# probe.cmake: md_probe, the prober and the monitor (schedules, health, views).
md_module(md_probe probe
  SOURCES probe.c monitor.c sched_heap.c sched.c
  LIBS md_base md_config md_health md_view md_util)

md_test(unit.test_probe SOURCES tests/unit/test_probe.c LIBS md_probe)
md_test(unit.test_monitor SOURCES tests/unit/test_monitor.c LIBS md_probe)
md_test(unit.test_sched SOURCES tests/unit/test_sched.c LIBS md_probe)
