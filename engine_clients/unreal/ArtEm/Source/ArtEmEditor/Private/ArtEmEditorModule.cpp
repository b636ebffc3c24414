// The editor side of ArtEm: its Project Settings page (Plugins > ArtEm: server address, token
// file, transport, style, strength) gets a style picker with the server's thumbnails.
#include "ArtEmSettings.h"
#include "ArtEmSettingsCustomization.h"
#include "Modules/ModuleManager.h"
#include "PropertyEditorModule.h"

class FArtEmEditorModule : public IModuleInterface
{
public:
	virtual void StartupModule() override
	{
		FPropertyEditorModule& Properties =
			FModuleManager::LoadModuleChecked<FPropertyEditorModule>("PropertyEditor");
		Properties.RegisterCustomClassLayout(UArtEmSettings::StaticClass()->GetFName(),
			FOnGetDetailCustomizationInstance::CreateStatic(&FArtEmSettingsCustomization::MakeInstance));
	}

	virtual void ShutdownModule() override
	{
		FPropertyEditorModule* Properties =
			FModuleManager::GetModulePtr<FPropertyEditorModule>("PropertyEditor");
		if (Properties != nullptr)
		{
			Properties->UnregisterCustomClassLayout(UArtEmSettings::StaticClass()->GetFName());
		}
	}
};

IMPLEMENT_MODULE(FArtEmEditorModule, ArtEmEditor)
