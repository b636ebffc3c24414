// Adds the style picker under the Style category of ArtEm's settings page.
#pragma once

#include "CoreMinimal.h"
#include "IDetailCustomization.h"

class FArtEmSettingsCustomization : public IDetailCustomization
{
public:
	static TSharedRef<IDetailCustomization> MakeInstance();
	virtual void CustomizeDetails(IDetailLayoutBuilder& DetailBuilder) override;
};
