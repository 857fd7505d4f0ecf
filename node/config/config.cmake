# config.cmake: md_config, the configuration: parsing, validation, rendering with secrets masked.
md_module(md_config config PURE
  SOURCES config.c config_util.c config_render.c config_cluster.c config_remedy.c config_nul.c
    config_env.c config_timing.c config_failover.c
  LIBS md_health PkgConfig::CJSON)

foreach(t IN ITEMS test_config test_config_cluster test_config_remedy test_config_env test_config_timing
                test_config_failover)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_config)
endforeach()
