#include "ArtEmSettingsCustomization.h"

#include "ArtEmSettings.h"
#include "DetailCategoryBuilder.h"
#include "DetailLayoutBuilder.h"
#include "DetailWidgetRow.h"
#include "SArtEmStylePicker.h"

#define LOCTEXT_NAMESPACE "ArtEmSettings"

TSharedRef<IDetailCustomization> FArtEmSettingsCustomization::MakeInstance()
{
	return MakeShared<FArtEmSettingsCustomization>();
}

void FArtEmSettingsCustomization::CustomizeDetails(IDetailLayoutBuilder& DetailBuilder)
{
	const TSharedRef<IPropertyHandle> Style =
		DetailBuilder.GetProperty(GET_MEMBER_NAME_CHECKED(UArtEmSettings, Style));
	IDetailCategoryBuilder& Category = DetailBuilder.EditCategory("Style");
	Category.AddCustomRow(LOCTEXT("Picker", "Style picker"))
		.WholeRowContent()
		[
			SNew(SArtEmStylePicker).StyleProperty(Style)
		];
}

#undef LOCTEXT_NAMESPACE
