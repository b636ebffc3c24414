// The runtime module: the scene view extension (readback after tonemapping, composite of the
// stylized frame), the GameInstance subsystem with its Blueprint functions and console variables,
// and the project settings. It links the native core only through ArtEmCore and the ThirdParty
// module ArtEmNative, so no gRPC of the engine's own is involved.
using UnrealBuildTool;

public class ArtEm : ModuleRules
{
	public ArtEm(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;
		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core", "CoreUObject", "Engine", "DeveloperSettings"
		});
		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"ArtEmCore", "ArtEmNative", "RenderCore", "Renderer", "RHI"
		});
	}
}
