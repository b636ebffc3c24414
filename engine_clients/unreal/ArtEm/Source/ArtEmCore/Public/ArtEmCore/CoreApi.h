// The export macro of the ArtEmCore module: Unreal's build defines ARTEMCORE_API (dllexport
// inside the module, dllimport in modules that use it); elsewhere (ctest) it is empty.
#pragma once

#ifndef ARTEMCORE_API
#define ARTEMCORE_API
#endif
