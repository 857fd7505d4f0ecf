# deploy.cmake: the checks of deploy/ (label deploy), run without a container engine, a Kubernetes
# cluster or systemd as PID 1: the Dockerfile builds as CI does and ships what the binary links, the
# manifests parse and pass a schema check, the systemd unit verifies, the alert rules load and fire.
# Each check prints every problem it finds and fails on any (tests/deploy/*.py say how).
find_program(MD_SYS_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(MD_PROMTOOL NAMES promtool)

if(MD_SYS_PYTHON3)
  foreach(c IN ITEMS docker systemd)
    md_test(deploy.${c} COMMAND ${MD_SYS_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/deploy/check_${c}.py
      ${CMAKE_SOURCE_DIR} $<TARGET_FILE:medic>)
  endforeach()
  md_test(deploy.k8s COMMAND ${MD_SYS_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/deploy/check_k8s.py
    ${CMAKE_SOURCE_DIR}/deploy/k8s $<TARGET_FILE:medic>)
else()
  foreach(c IN ITEMS docker systemd k8s)
    md_test(deploy.${c} COMMAND sh -c "echo 'SKIPPED: no /usr/bin/python3 (scripts/bootstrap)' && exit 77")
  endforeach()
endif()

if(MD_PROMTOOL)
  md_test(deploy.prometheus_rules COMMAND ${MD_PROMTOOL} check rules ${CMAKE_SOURCE_DIR}/deploy/prometheus/medic-rules.yml)
  md_test(deploy.prometheus_alerts_fire COMMAND ${MD_PROMTOOL} test rules
    ${CMAKE_SOURCE_DIR}/deploy/prometheus/medic-rules.test.yml)
else()
  foreach(c IN ITEMS prometheus_rules prometheus_alerts_fire)
    md_test(deploy.${c} COMMAND sh -c "echo 'SKIPPED: no promtool (scripts/bootstrap installs prometheus)' && exit 77")
  endforeach()
endif()
