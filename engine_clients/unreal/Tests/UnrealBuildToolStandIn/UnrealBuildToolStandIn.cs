// A STAND-IN for the few UnrealBuildTool types the plugin's Build.cs files use, so that Mono's C#
// compiler can check them here, where no engine is installed. Names and shapes follow
// UnrealBuildTool (UE 5.3: ModuleRules, ReadOnlyTargetRules, UnrealTargetPlatform, ...); the
// bodies are only what the test driver needs to run a rules constructor and print what it set.
// A member the real UnrealBuildTool lacks would pass here and fail in the engine: keep this file
// to what the engine has.
using System;
using System.Collections.Generic;

namespace UnrealBuildTool
{
	public class BuildException : Exception
	{
		public BuildException(string Message) : base(Message) { }
		public BuildException(string Format, params object[] Args) : base(string.Format(Format, Args)) { }
	}

	// In UnrealBuildTool a struct with one static field per platform, compared by name.
	public struct UnrealTargetPlatform
	{
		readonly string Name;
		UnrealTargetPlatform(string Name) { this.Name = Name; }
		public static readonly UnrealTargetPlatform Win64 = new UnrealTargetPlatform("Win64");
		public static readonly UnrealTargetPlatform Linux = new UnrealTargetPlatform("Linux");
		public static readonly UnrealTargetPlatform LinuxArm64 = new UnrealTargetPlatform("LinuxArm64");
		public static readonly UnrealTargetPlatform Mac = new UnrealTargetPlatform("Mac");
		public static readonly UnrealTargetPlatform Android = new UnrealTargetPlatform("Android");
		public static readonly UnrealTargetPlatform IOS = new UnrealTargetPlatform("IOS");
		public static UnrealTargetPlatform Parse(string Name) { return new UnrealTargetPlatform(Name); }
		public static bool operator ==(UnrealTargetPlatform A, UnrealTargetPlatform B)
		{
			return A.Name == B.Name;
		}
		public static bool operator !=(UnrealTargetPlatform A, UnrealTargetPlatform B)
		{
			return A.Name != B.Name;
		}
		public override bool Equals(object Other)
		{
			return Other is UnrealTargetPlatform && this == (UnrealTargetPlatform)Other;
		}
		public override int GetHashCode() { return Name.GetHashCode(); }
		public override string ToString() { return Name; }
	}

	public enum TargetType { Game, Editor, Client, Server, Program }

	public enum UnrealTargetConfiguration { Unknown, Debug, DebugGame, Development, Shipping, Test }

	public class ReadOnlyTargetRules
	{
		public UnrealTargetPlatform Platform { get; set; }
		public TargetType Type { get; set; }
		public UnrealTargetConfiguration Configuration { get; set; }
		public bool bBuildEditor { get { return Type == TargetType.Editor; } }
	}

	public enum ModuleType { CPlusPlus, External }

	public enum PCHUsageMode { Default, NoPCHs, NoSharedPCHs, UseSharedPCHs, UseExplicitOrSharedPCHs }

	public enum CppStandardVersion { Cpp14, Cpp17, Cpp20, Latest, Default }

	public class RuntimeDependency
	{
		public string Path;
		public string SourcePath;
		public RuntimeDependency(string Path, string SourcePath)
		{
			this.Path = Path;
			this.SourcePath = SourcePath;
		}
	}

	public class RuntimeDependencyList : List<RuntimeDependency>
	{
		public void Add(string InPath) { Add(new RuntimeDependency(InPath, null)); }
		public void Add(string InPath, string InSourcePath)
		{
			Add(new RuntimeDependency(InPath, InSourcePath));
		}
	}

	public class ModuleRules
	{
		// UnrealBuildTool sets these (from the .Build.cs file's folder and its plugin) before it
		// runs the constructor; the test driver does the same.
		public string ModuleDirectory { get; internal set; }
		public string PluginDirectory { get; internal set; }
		public ReadOnlyTargetRules Target { get; internal set; }

		public ModuleType Type = ModuleType.CPlusPlus;
		public PCHUsageMode PCHUsage = PCHUsageMode.Default;
		public CppStandardVersion CppStandard = CppStandardVersion.Default;
		public bool bEnableExceptions;
		public List<string> PublicDependencyModuleNames = new List<string>();
		public List<string> PrivateDependencyModuleNames = new List<string>();
		public List<string> DynamicallyLoadedModuleNames = new List<string>();
		public List<string> PublicIncludePaths = new List<string>();
		public List<string> PrivateIncludePaths = new List<string>();
		public List<string> PublicSystemIncludePaths = new List<string>();
		public List<string> PublicAdditionalLibraries = new List<string>();
		public List<string> PublicDelayLoadDLLs = new List<string>();
		public List<string> PublicDefinitions = new List<string>();
		public RuntimeDependencyList RuntimeDependencies = new RuntimeDependencyList();

		public ModuleRules(ReadOnlyTargetRules Target) { this.Target = Target; }
	}
}
