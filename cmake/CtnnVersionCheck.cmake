# ctnn_check_header_version(<config.hpp>)
#
# The version is written twice: in project() and as CTNN_VERSION_* macros in config.hpp. Fail the
# configure step when they disagree, so a release cannot ship two different versions.
function(ctnn_check_header_version header)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${header}")
    file(READ "${header}" text)
    foreach(part MAJOR MINOR PATCH)
        if(NOT text MATCHES "#define CTNN_VERSION_${part} ([0-9]+)")
            message(FATAL_ERROR "${header} does not define CTNN_VERSION_${part}")
        endif()
        list(APPEND header_version "${CMAKE_MATCH_1}")
    endforeach()
    list(JOIN header_version "." header_version)
    if(NOT header_version VERSION_EQUAL PROJECT_VERSION)
        message(FATAL_ERROR "Version mismatch: project(ctnn VERSION ${PROJECT_VERSION}) in "
                            "CMakeLists.txt but CTNN_VERSION_* = ${header_version} in ${header}")
    endif()
endfunction()
