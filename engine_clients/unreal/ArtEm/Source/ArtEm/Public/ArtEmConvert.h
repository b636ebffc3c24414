// Between Unreal's types and the engine-free core's: strings, the settings' transport, a style
// list with its thumbnails decoded into textures.
#pragma once

#include "ArtEmCore/StreamChoices.h"
#include "ArtEmCore/StyleCatalog.h"
#include "ArtEmSettings.h"
#include "ArtEmSubsystem.h"
#include "CoreMinimal.h"
#include "Engine/Texture2D.h"
#include "ImageUtils.h"
#include "Misc/Paths.h"

#include <string>
#include <vector>

namespace ArtEmConvert
{
inline std::string ToStd(const FString& Text)
{
	return std::string(TCHAR_TO_UTF8(*Text));
}

inline FString ToUnreal(const std::string& Text)
{
	return FString(UTF8_TO_TCHAR(Text.c_str()));
}

/** The settings' token file, TLS CA file and server name, file paths made absolute. */
inline ArtEm::Credentials CredentialsOf(const UArtEmSettings& Settings)
{
	const auto Full = [](const FFilePath& File)
	{
		if (File.FilePath.IsEmpty())
		{
			return std::string();
		}
		return ToStd(FPaths::ConvertRelativePathToFull(File.FilePath));
	};
	ArtEm::Credentials Credentials;
	Credentials.token_file = Full(Settings.TokenFile);
	Credentials.tls_ca_file = Full(Settings.TlsCaFile);
	Credentials.tls_server_name = ToStd(Settings.TlsServerName);
	return Credentials;
}

inline ArtEm::TransportSetting ToCore(EArtEmTransport Transport)
{
	switch (Transport)
	{
	case EArtEmTransport::SharedMemory:
		return ArtEm::TransportSetting::SharedMemory;
	case EArtEmTransport::Inline:
		return ArtEm::TransportSetting::Inline;
	case EArtEmTransport::Jpeg:
		return ArtEm::TransportSetting::Jpeg;
	default:
		return ArtEm::TransportSetting::Automatic;
	}
}

/** The styles with their PNG thumbnails as transient textures (game thread: it makes UObjects). */
inline TArray<FArtEmStyle> ToUnreal(const std::vector<ArtEm::StyleEntry>& Entries)
{
	check(IsInGameThread());
	TArray<FArtEmStyle> Styles;
	for (const ArtEm::StyleEntry& Entry : Entries)
	{
		FArtEmStyle& Style = Styles.AddDefaulted_GetRef();
		Style.Id = ToUnreal(Entry.id);
		Style.Kind = ToUnreal(Entry.kind);
		Style.DisplayName = ToUnreal(Entry.display_name);
		if (!Entry.thumbnail_png.empty())
		{
			Style.Thumbnail = FImageUtils::ImportBufferAsTexture2D(
				TArrayView64<const uint8>(Entry.thumbnail_png.data(), Entry.thumbnail_png.size()));
		}
	}
	return Styles;
}
}  // namespace ArtEmConvert
