#include "SArtEmStylePicker.h"

#include "ArtEmConvert.h"
#include "ArtEmCore/StyleCatalog.h"
#include "ArtEmSettings.h"
#include "Async/Async.h"
#include "Styling/SlateBrush.h"
#include "Engine/Texture2D.h"
#include "Widgets/Images/SImage.h"
#include "Widgets/Input/SButton.h"
#include "Widgets/Layout/SBox.h"
#include "Widgets/Layout/SWrapBox.h"
#include "Widgets/SBoxPanel.h"
#include "Widgets/Text/STextBlock.h"

#define LOCTEXT_NAMESPACE "ArtEmStylePicker"

namespace
{
constexpr int32 ListTimeoutMs = 5000;
constexpr float TileSize = 96.0f;
}  // namespace

void SArtEmStylePicker::Construct(const FArguments& InArgs)
{
	StyleProperty = InArgs._StyleProperty;
	ChildSlot
	[
		SNew(SVerticalBox)
		+ SVerticalBox::Slot().AutoHeight().Padding(2.0f)
		[
			SNew(SHorizontalBox)
			+ SHorizontalBox::Slot().AutoWidth()
			[
				SNew(SButton)
				.Text(LOCTEXT("List", "List the server's styles"))
				.ToolTipText(LOCTEXT("ListTip",
					"Asks the server in Server Address for its styles and their thumbnails"))
				.IsEnabled_Lambda([this] { return !bListing; })
				.OnClicked(this, &SArtEmStylePicker::OnList)
			]
			+ SHorizontalBox::Slot().FillWidth(1.0f).VAlign(VAlign_Center).Padding(8.0f, 0.0f)
			[
				SAssignNew(State, STextBlock).AutoWrapText(true)
			]
		]
		+ SVerticalBox::Slot().AutoHeight().Padding(2.0f)
		[
			SAssignNew(Tiles, SWrapBox).UseAllottedSize(true)
		]
	];
}

FReply SArtEmStylePicker::OnList()
{
	bListing = true;
	const FString Address = GetDefault<UArtEmSettings>()->ServerAddress;
	State->SetText(FText::Format(LOCTEXT("Asking", "Asking {0}..."), FText::FromString(Address)));
	const std::string Target = ArtEmConvert::ToStd(Address);
	const ArtEm::Credentials Credentials = ArtEmConvert::CredentialsOf(*GetDefault<UArtEmSettings>());
	TWeakPtr<SArtEmStylePicker> WeakThis = SharedThis(this);
	Async(EAsyncExecution::ThreadPool, [Target, Credentials, WeakThis]()
		{
			std::vector<ArtEm::StyleEntry> Entries;
			std::string Why;
			const int Code = ArtEm::ListStyles(Target, ListTimeoutMs, &Entries, &Why, Credentials);
			AsyncTask(ENamedThreads::GameThread, [WeakThis, Code, Why, Entries = MoveTemp(Entries)]()
				{
					if (TSharedPtr<SArtEmStylePicker> Self = WeakThis.Pin())
					{
						Self->Show(Code, UTF8_TO_TCHAR(Why.c_str()),
							Code == 0 ? ArtEmConvert::ToUnreal(Entries) : TArray<FArtEmStyle>());
					}
				});
		});
	return FReply::Handled();
}

void SArtEmStylePicker::Show(int32 Code, const FString& Error, TArray<FArtEmStyle> Styles)
{
	bListing = false;
	Tiles->ClearChildren();
	Thumbnails.Reset();
	Brushes.Reset();
	if (Code != 0)
	{
		State->SetText(
			FText::Format(LOCTEXT("Failed", "{0} (code {1})"), FText::FromString(Error), Code));
		return;
	}
	State->SetText(
		FText::Format(LOCTEXT("Listed", "{0} styles: click one to stream in it"), Styles.Num()));
	for (const FArtEmStyle& Style : Styles)
	{
		TSharedPtr<FSlateBrush> Brush = MakeShared<FSlateBrush>();
		if (Style.Thumbnail != nullptr)
		{
			Thumbnails.Emplace(Style.Thumbnail.Get());
			Brush->SetResourceObject(Style.Thumbnail.Get());
		}
		Brush->ImageSize = FVector2D(TileSize, TileSize);
		Brushes.Add(Brush);
		const FString Tip = FString::Printf(TEXT("%s (%s)"), *Style.Id, *Style.Kind);
		Tiles->AddSlot().Padding(4.0f)
		[
			SNew(SButton)
			.ToolTipText(FText::FromString(Tip))
			.OnClicked(this, &SArtEmStylePicker::OnPick, Style.Id)
			[
				SNew(SVerticalBox)
				+ SVerticalBox::Slot().AutoHeight().HAlign(HAlign_Center)
				[
					SNew(SBox).WidthOverride(TileSize).HeightOverride(TileSize)
					[
						SNew(SImage).Image(Brush.Get())
					]
				]
				+ SVerticalBox::Slot().AutoHeight().HAlign(HAlign_Center)
				[
					SNew(STextBlock)
					.Text(FText::FromString(Style.DisplayName.IsEmpty() ? Style.Id : Style.DisplayName))
				]
			]
		];
	}
}

FReply SArtEmStylePicker::OnPick(FString Id)
{
	if (StyleProperty.IsValid())
	{
		StyleProperty->SetValue(Id);  // as if typed: undo, the details view and saving follow
	}
	State->SetText(FText::Format(LOCTEXT("Picked", "Style: {0}"), FText::FromString(Id)));
	return FReply::Handled();
}

#undef LOCTEXT_NAMESPACE
