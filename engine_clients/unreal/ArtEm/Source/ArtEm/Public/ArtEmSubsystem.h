// ArtEm for a running game: one stream per game instance, shown through a scene view extension
// (after tonemapping, both eyes). Blueprint: Connect, ListStyles, SetStyle, SetStrength, GetStatus.
// Console: artem.Enable 0|1, artem.Server host:port, artem.Style <id>.
#pragma once

#include "CoreMinimal.h"
#include "HAL/IConsoleManager.h"
#include "Subsystems/GameInstanceSubsystem.h"

#include <memory>

#include "ArtEmSubsystem.generated.h"

class FArtEmViewExtension;
class UTexture2D;
namespace ArtEm
{
class Streamer;
}

/** A style the server offers. */
USTRUCT(BlueprintType)
struct FArtEmStyle
{
	GENERATED_BODY()

	/** What SetStyle takes. */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString Id;

	/** identity, generator, adain, xnor, ... */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString Kind;

	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString DisplayName;

	/** The server's preview; null when the style has none. */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	TObjectPtr<UTexture2D> Thumbnail = nullptr;
};

/** Where the stream stands, for a HUD or a log. */
USTRUCT(BlueprintType)
struct FArtEmStatus
{
	GENERATED_BODY()

	/** stopped, waiting for frames, connecting, streaming or failed. */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString State;

	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	bool bStreaming = false;

	/** Why it failed, or the last refusal (an unknown style...). */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString Message;

	/** One line with everything below. */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString Summary;

	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	FString Style;

	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	float RoundTripMs = 0.0f;

	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	float ServerMs = 0.0f;

	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	int64 FramesShown = 0;

	/** Frames the server replaced unanswered, or that a newer frame replaced before sending. */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	int64 FramesDropped = 0;

	/** Frames not read back because every request slot was busy. */
	UPROPERTY(BlueprintReadOnly, Category = "ArtEm")
	int64 FramesSkipped = 0;
};

DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(
	FArtEmStylesListed, bool, bSuccess, const FString&, Error, const TArray<FArtEmStyle>&, Styles);

UCLASS()
class ARTEM_API UArtEmSubsystem : public UGameInstanceSubsystem
{
	GENERATED_BODY()

public:
	virtual void Initialize(FSubsystemCollectionBase& Collection) override;
	virtual void Deinitialize() override;

	/**
	 * Opens the stream to Server (host:port; empty: artem.Server, else the project setting) and
	 * returns at once: the stream connects on a thread of its own, retries every 2 s while the
	 * server is away, and starts with the first rendered frame. GetStatus says how it goes.
	 */
	UFUNCTION(BlueprintCallable, Category = "ArtEm")
	void Connect(const FString& Server);

	/** Ends the stream; the game shows its own frames again. */
	UFUNCTION(BlueprintCallable, Category = "ArtEm")
	void Disconnect();

	/** Asks the server for its styles (off the game thread); OnStylesListed answers. */
	UFUNCTION(BlueprintCallable, Category = "ArtEm")
	void ListStyles();

	/** Switches the stream's style without reconnecting (a refusal shows in GetStatus().Message). */
	UFUNCTION(BlueprintCallable, Category = "ArtEm")
	void SetStyle(const FString& Style);

	/** 0 (the game's own frame) .. 1 (full style). */
	UFUNCTION(BlueprintCallable, Category = "ArtEm")
	void SetStrength(float Strength);

	/** Shows (true) or hides (false) the stylized frames, as artem.Enable does. */
	UFUNCTION(BlueprintCallable, Category = "ArtEm")
	void SetEnabled(bool bEnabled);

	UFUNCTION(BlueprintPure, Category = "ArtEm")
	FArtEmStatus GetStatus() const;

	UPROPERTY(BlueprintAssignable, Category = "ArtEm")
	FArtEmStylesListed OnStylesListed;

private:
	FString AddressOr(const FString& Server) const;
	void OnServerVariable(IConsoleVariable* Variable);
	void OnStyleVariable(IConsoleVariable* Variable);

	std::shared_ptr<ArtEm::Streamer> Streamer;
	TSharedPtr<FArtEmViewExtension, ESPMode::ThreadSafe> Extension;
	FString CurrentStyle;
	float CurrentStrength = 1.0f;
	FDelegateHandle ServerChanged;
	FDelegateHandle StyleChanged;
};
