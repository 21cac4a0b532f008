# Install rules (GNUInstallDirs): the daemons in sbin, krctl in bin, the
# shared libkr with its header and pkg-config file, the man pages, the
# commented sample configurations and the examples, the systemd units and
# the sysusers.d file that makes their users.
#
#   cmake --install build                       # into CMAKE_INSTALL_PREFIX
#   DESTDIR=/tmp/stage cmake --install build    # staged (packages, tests)
include(GNUInstallDirs)

set(KR_SYSTEMD_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" CACHE PATH
  "where the systemd units go (/lib/systemd/system for a package)")
set(KR_SYSUSERSDIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" CACHE PATH
  "where the sysusers.d file goes")
# Paths written into the units and the sysusers file.
set(KR_SBINDIR "${CMAKE_INSTALL_FULL_SBINDIR}")
set(KR_SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}")
# StateDirectory= is always under /var/lib, whatever the prefix.
set(KR_STATEDIR "/var/lib")

install(TARGETS krbroker krnode RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
if(TARGET krspool)
  install(TARGETS krspool RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
  foreach(page krspool.8 krspool.conf.5)
    string(REGEX REPLACE ".*\\." "" section ${page})
    install(FILES ${CMAKE_SOURCE_DIR}/docs/man/${page}
      DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  install(FILES ${CMAKE_SOURCE_DIR}/etc/krspool.ini
    DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
  configure_file(${CMAKE_SOURCE_DIR}/systemd/krspool@.service.in
    ${CMAKE_BINARY_DIR}/systemd/krspool@.service @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/krspool@.service
    DESTINATION ${KR_SYSTEMD_UNITDIR})
endif()
# krfhir: the FHIR gateway, its pages, sample and unit.
if(TARGET krfhir)
  install(TARGETS krfhir RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
  foreach(page krfhir.8 krfhir.conf.5)
    string(REGEX REPLACE ".*\\." "" section ${page})
    install(FILES ${CMAKE_SOURCE_DIR}/docs/man/${page}
      DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  install(FILES ${CMAKE_SOURCE_DIR}/etc/krfhir.ini
    DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
  file(GLOB KR_FHIR_EXAMPLES ${CMAKE_SOURCE_DIR}/examples/fhir/*.json)
  install(FILES ${KR_FHIR_EXAMPLES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/fhir)
  configure_file(${CMAKE_SOURCE_DIR}/systemd/krfhir@.service.in
    ${CMAKE_BINARY_DIR}/systemd/krfhir@.service @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/krfhir@.service
    DESTINATION ${KR_SYSTEMD_UNITDIR})
endif()
install(TARGETS krctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# libkr: the shared library (with its soname link) and its header. The
# static kr_static stays in the build: it needs krcommon, which is not a
# public library.
install(TARGETS kr
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  NAMELINK_COMPONENT Unspecified)
install(FILES ${CMAKE_SOURCE_DIR}/include/kr.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
configure_file(${CMAKE_SOURCE_DIR}/cmake/libkr.pc.in
  ${CMAKE_BINARY_DIR}/libkr.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/libkr.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

foreach(page krctl.1 krbroker.8 krnode.8 krbroker.conf.5 krnode.conf.5)
  string(REGEX REPLACE ".*\\." "" section ${page})
  install(FILES ${CMAKE_SOURCE_DIR}/docs/man/${page}
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

install(FILES ${CMAKE_SOURCE_DIR}/etc/krbroker.ini ${CMAKE_SOURCE_DIR}/etc/krnode.ini
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
file(GLOB KR_EXAMPLES ${CMAKE_SOURCE_DIR}/examples/*.json
  ${CMAKE_SOURCE_DIR}/examples/routes.ini ${CMAKE_SOURCE_DIR}/examples/adapter.c)
install(FILES ${KR_EXAMPLES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/docs/OPERATIONS.md ${CMAKE_SOURCE_DIR}/README.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

foreach(unit krbroker.service krnode@.service)
  configure_file(${CMAKE_SOURCE_DIR}/systemd/${unit}.in
    ${CMAKE_BINARY_DIR}/systemd/${unit} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit} DESTINATION ${KR_SYSTEMD_UNITDIR})
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/systemd/kansrijk.sysusers
  ${CMAKE_BINARY_DIR}/systemd/kansrijk.conf @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/systemd/kansrijk.conf DESTINATION ${KR_SYSUSERSDIR})
