// ArtEm's page in Project Settings (Plugins > ArtEm), saved to the project's DefaultGame.ini and
// read at run time by UArtEmSubsystem. The editor module adds the style picker to this page.
#pragma once

#include "CoreMinimal.h"
#include "Engine/DeveloperSettings.h"

#include "ArtEmSettings.generated.h"

/** How frames travel to the server (the native core's transports). */
UENUM(BlueprintType)
enum class EArtEmTransport : uint8
{
	/** Shared memory for a server on this machine, JPEG for a server on another one. */
	Automatic,
	/** Frames in a shared-memory region: no pixels in the gRPC messages (server on this machine). */
	SharedMemory,
	/** Raw pixels in the messages (any server; a fast network). */
	Inline,
	/** JPEG at quality 90 both ways (a server over Wi-Fi, e.g. for a standalone headset). */
	Jpeg,
};

UCLASS(config = Game, defaultconfig, meta = (DisplayName = "ArtEm"))
class ARTEM_API UArtEmSettings : public UDeveloperSettings
{
	GENERATED_BODY()

public:
	/** host:port of the ArtEm server (artem serve). The console variable artem.Server overrides it. */
	UPROPERTY(config, EditAnywhere, Category = "Server")
	FString ServerAddress = TEXT("127.0.0.1:50051");

	/** A file holding the server's bearer token (a server started with --token-file). */
	UPROPERTY(config, EditAnywhere, Category = "Server")
	FFilePath TokenFile;

	/** PEM file of the CA that signed the server's certificate (a server started with --tls-cert;
	 * for a self-signed one, its certificate): connect over TLS. Empty: plaintext. */
	UPROPERTY(config, EditAnywhere, Category = "Server")
	FFilePath TlsCaFile;

	/** The name the server's certificate must carry; empty: the host of the server address. */
	UPROPERTY(config, EditAnywhere, Category = "Server", AdvancedDisplay)
	FString TlsServerName;

	UPROPERTY(config, EditAnywhere, Category = "Server")
	EArtEmTransport Transport = EArtEmTransport::Automatic;

	/** The style streams start in (a style id of the server; pick one below). */
	UPROPERTY(config, EditAnywhere, Category = "Style")
	FString Style = TEXT("identity");

	UPROPERTY(config, EditAnywhere, Category = "Style", meta = (ClampMin = "0.0", ClampMax = "1.0"))
	float Strength = 1.0f;

	/** Connect when the game starts; else call Connect from a Blueprint. */
	UPROPERTY(config, EditAnywhere, Category = "Streaming")
	bool bConnectOnStart = true;

	/** Request slots: a frame being read back, one waiting, one at the server. */
	UPROPERTY(config, EditAnywhere, Category = "Streaming", AdvancedDisplay,
		meta = (ClampMin = "2", ClampMax = "8"))
	int32 Slots = 3;

	virtual FName GetCategoryName() const override { return TEXT("Plugins"); }
};
