// placeholder: implemented in progress
#include "relay/doctor/host_checks.hpp"
