// The ArtEm native client core (engine_clients/native: a C ABI over its own gRPC client, HTTP/2
// written in the core, no gRPC library) as a ThirdParty module, so that the engine's own gRPC, if
// any, is never touched: only the C header is seen. Staged here by
// engine_clients/unreal/stage_native.py, from a native build or (--shipped) from the
// self-contained binaries the repository ships:
//   include/artem/artem.h
//   lib/Linux/x86_64-unknown-linux-gnu/libartem_native.a     statically linked core, or
//   lib/Linux/x86_64-unknown-linux-gnu/libartem_native.so    shared core (+ any libraries it needs;
//                                                            the shipped one needs none)
//   lib/Win64/artem_native.lib (+ artem_native.dll when it is a DLL's import library; for the
//                               shipped MinGW-built DLL the .lib is made by MinGW's dlltool)
using System.IO;
using UnrealBuildTool;

public class ArtEmNative : ModuleRules
{
	public ArtEmNative(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;
		string Include = Path.Combine(ModuleDirectory, "include");
		string Header = Path.Combine(Include, "artem", "artem.h");
		if (!File.Exists(Header))
		{
			throw new BuildException("ArtEm: " + Header + " is missing: stage the native core first " +
				"(python3 engine_clients/unreal/stage_native.py BUILD_DIR, see the plugin's README)");
		}
		PublicSystemIncludePaths.Add(Include);

		if (Target.Platform == UnrealTargetPlatform.Linux)
		{
			string Lib = Path.Combine(ModuleDirectory, "lib", "Linux", "x86_64-unknown-linux-gnu");
			string Static = Path.Combine(Lib, "libartem_native.a");
			string Shared = Path.Combine(Lib, "libartem_native.so");
			if (File.Exists(Static))
			{
				PublicAdditionalLibraries.Add(Static);
			}
			else if (File.Exists(Shared))
			{
				// The shared core and the libraries it needs, which it finds beside itself ($ORIGIN):
				// all of them go next to the game's binary.
				PublicAdditionalLibraries.Add(Shared);
				foreach (string Found in Directory.GetFiles(Lib, "*.so*"))
				{
					RuntimeDependencies.Add(Path.Combine("$(BinaryOutputDir)", Path.GetFileName(Found)), Found);
				}
			}
			else
			{
				throw new BuildException("ArtEm: neither " + Static + " nor " + Shared + " is there: " +
					"stage the native core (python3 engine_clients/unreal/stage_native.py BUILD_DIR)");
			}
		}
		else if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			string Lib = Path.Combine(ModuleDirectory, "lib", "Win64");
			string ImportOrStatic = Path.Combine(Lib, "artem_native.lib");
			string Dll = Path.Combine(Lib, "artem_native.dll");
			if (!File.Exists(ImportOrStatic))
			{
				throw new BuildException("ArtEm: " + ImportOrStatic + " is missing: the Windows build of the " +
					"native core has to be staged there (see the plugin's README)");
			}
			PublicAdditionalLibraries.Add(ImportOrStatic);
			if (File.Exists(Dll))
			{
				PublicDelayLoadDLLs.Add("artem_native.dll");
				RuntimeDependencies.Add("$(BinaryOutputDir)/artem_native.dll", Dll);
				PublicDefinitions.Add("ARTEM_NATIVE_DLL=1");
			}
		}
		else
		{
			throw new BuildException("ArtEm: no native core for " + Target.Platform +
				" (Win64 and Linux are built)");
		}
	}
}
