// The plugin's engine-free core (frame slots, readback ring, stereo layout, stream choices, the
// streaming thread over the native core's C ABI). Only Private/ArtEmCoreModule.cpp sees the
// engine; everything else is plain C++17 built and tested outside Unreal as well (ctest).
using UnrealBuildTool;

public class ArtEmCore : ModuleRules
{
	public ArtEmCore(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;
		bEnableExceptions = false;
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "ArtEmNative" });
		PrivateDependencyModuleNames.AddRange(new string[] { "Projects" });
	}
}
