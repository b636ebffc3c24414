// Runs a module's rules as UnrealBuildTool would, against the stand-in: the object is made without
// its constructor, ModuleDirectory and Target set, then the constructor runs. Prints what the rules
// set, one "Field: value" line each, or "BuildException: message".
//   mono RunRules.exe RULES.dll ClassName ModuleDirectory Platform [Game|Editor]
using System;
using System.Collections;
using System.Reflection;
using System.Runtime.Serialization;
using UnrealBuildTool;

static class RunRules
{
	static int Main(string[] Args)
	{
		Type Rules = Assembly.LoadFrom(Args[0]).GetType(Args[1], true);
		var Target = new ReadOnlyTargetRules
		{
			Platform = UnrealTargetPlatform.Parse(Args[3]),
			Type = Args.Length > 4 ? (TargetType)Enum.Parse(typeof(TargetType), Args[4]) : TargetType.Game,
			Configuration = UnrealTargetConfiguration.Development,
		};
		var Module = (ModuleRules)FormatterServices.GetUninitializedObject(Rules);
		typeof(ModuleRules).GetProperty("ModuleDirectory").SetValue(Module, Args[2]);
		typeof(ModuleRules).GetProperty("Target").SetValue(Module, Target);
		try
		{
			ConstructorInfo Constructor = Rules.GetConstructor(new[] { typeof(ReadOnlyTargetRules) });
			Constructor.Invoke(Module, new object[] { Target });
		}
		catch (TargetInvocationException E) when (E.InnerException is BuildException)
		{
			Console.WriteLine("BuildException: " + E.InnerException.Message);
			return 0;
		}
		foreach (FieldInfo Field in typeof(ModuleRules).GetFields())
		{
			object Value = Field.GetValue(Module);
			if (Value is IEnumerable Items && !(Value is string))
			{
				foreach (object Item in Items)
				{
					var Dependency = Item as RuntimeDependency;
					object Shown = Dependency != null ? Dependency.Path + " <- " + Dependency.SourcePath : Item;
					Console.WriteLine(Field.Name + ": " + Shown);
				}
			}
			else
			{
				Console.WriteLine(Field.Name + ": " + Value);
			}
		}
		return 0;
	}
}
