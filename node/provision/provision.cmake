# provision.cmake: md_provision, the pure half of `medic railway provision` (desired cluster,
# project state, the plan between them).
md_module(md_provision provision PURE
  SOURCES prov_config.c prov_state.c prov_plan.c
  LIBS PkgConfig::CJSON)

md_test(unit.test_provision SOURCES tests/unit/test_provision.c LIBS md_provision)
