// "List the server's styles": asks the server in the settings (off the editor's thread), then shows
// each style's thumbnail and name; clicking one writes its id into the Style setting.
#pragma once

#include "ArtEmSubsystem.h"
#include "CoreMinimal.h"
#include "PropertyHandle.h"
#include "UObject/StrongObjectPtr.h"
#include "Widgets/SCompoundWidget.h"

class SWrapBox;
class STextBlock;
struct FSlateBrush;

class SArtEmStylePicker : public SCompoundWidget
{
public:
	SLATE_BEGIN_ARGS(SArtEmStylePicker) {}
		SLATE_ARGUMENT(TSharedPtr<IPropertyHandle>, StyleProperty)
	SLATE_END_ARGS()

	void Construct(const FArguments& InArgs);

private:
	FReply OnList();
	void Show(int32 Code, const FString& Error, TArray<FArtEmStyle> Styles);
	FReply OnPick(FString Id);

	TSharedPtr<IPropertyHandle> StyleProperty;
	TSharedPtr<SWrapBox> Tiles;
	TSharedPtr<STextBlock> State;
	TArray<TStrongObjectPtr<UTexture2D>> Thumbnails;  // kept while their brushes are on screen
	TArray<TSharedPtr<FSlateBrush>> Brushes;
	bool bListing = false;
};
