// placeholder: implemented in progress
#include "relay/doctor/spf.hpp"
