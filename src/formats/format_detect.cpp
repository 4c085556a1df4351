// STUB
#include "formats/decoder.hpp"
