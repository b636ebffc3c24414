// ArtEmCore's module boilerplate: the one file of the core that sees the engine. Where the native
// core is a DLL (Windows), it is delay-loaded: load it from the plugin's binaries before anything
// calls it, with a clear log line when it is not there.
#include "CoreMinimal.h"
#include "HAL/PlatformProcess.h"
#include "Interfaces/IPluginManager.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"

DEFINE_LOG_CATEGORY_STATIC(LogArtEmCore, Log, All);

class FArtEmCoreModule : public IModuleInterface
{
public:
	virtual void StartupModule() override
	{
#if defined(ARTEM_NATIVE_DLL)
		const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("ArtEm"));
		const FString Dll = FPaths::Combine(Plugin.IsValid() ? Plugin->GetBaseDir() : FString(),
			TEXT("Binaries/Win64/artem_native.dll"));
		Handle = FPlatformProcess::GetDllHandle(*Dll);
		if (Handle == nullptr)
		{
			UE_LOG(LogArtEmCore, Error, TEXT("ArtEm: %s could not be loaded: the plugin cannot stream"),
				*Dll);
		}
#endif
	}

	virtual void ShutdownModule() override
	{
		if (Handle != nullptr)
		{
			FPlatformProcess::FreeDllHandle(Handle);
			Handle = nullptr;
		}
	}

private:
	void* Handle = nullptr;
};

IMPLEMENT_MODULE(FArtEmCoreModule, ArtEmCore)
