// The editor module: ArtEm's page in Project Settings (server address, token file, transport)
// and the style picker on it, with the server's thumbnails.
using UnrealBuildTool;

public class ArtEmEditor : ModuleRules
{
	public ArtEmEditor(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;
		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"Core", "CoreUObject", "Engine", "Slate", "SlateCore", "InputCore", "UnrealEd", "PropertyEditor",
			"ArtEm", "ArtEmCore"
		});
	}
}
