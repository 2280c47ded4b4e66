#include <gtest/gtest.h>
TEST(doctor_Placeholder_test_doctor, Builds) { SUCCEED(); }
