#include "ArtEmSubsystem.h"

#include "ArtEmConvert.h"
#include "ArtEmCore/StreamChoices.h"
#include "ArtEmCore/Streamer.h"
#include "ArtEmCore/StyleCatalog.h"
#include "ArtEmSettings.h"
#include "ArtEmViewExtension.h"
#include "Async/Async.h"
#include "Engine/GameInstance.h"
#include "HAL/IConsoleManager.h"
#include "SceneViewExtension.h"

static TAutoConsoleVariable<int32> CVarArtEmEnable(TEXT("artem.Enable"), 1,
	TEXT("1: stream frames to the ArtEm server and show them stylized; "
		 "0: show the game's own frames."),
	ECVF_Default);

static TAutoConsoleVariable<FString> CVarArtEmServer(TEXT("artem.Server"), TEXT(""),
	TEXT("host:port of the ArtEm server; setting it reconnects (empty: the project setting)."),
	ECVF_Default);

static TAutoConsoleVariable<FString> CVarArtEmStyle(TEXT("artem.Style"), TEXT(""),
	TEXT("The style id to stream in (switches without reconnecting)."), ECVF_Default);

namespace
{
constexpr int32 StyleListTimeoutMs = 5000;

bool PlatformHasSharedMemory()
{
	return PLATFORM_WINDOWS || PLATFORM_LINUX || PLATFORM_MAC;
}
}  // namespace

void UArtEmSubsystem::Initialize(FSubsystemCollectionBase& Collection)
{
	Super::Initialize(Collection);
	const UArtEmSettings* Settings = GetDefault<UArtEmSettings>();
	const FString StyleVariable = CVarArtEmStyle.GetValueOnGameThread();
	CurrentStyle = StyleVariable.IsEmpty() ? Settings->Style : StyleVariable;
	CurrentStrength = Settings->Strength;
	Streamer = std::make_shared<ArtEm::Streamer>();
	Extension = FSceneViewExtensions::NewExtension<FArtEmViewExtension>(Streamer, GetGameInstance());
	Extension->SetEnabled(CVarArtEmEnable.GetValueOnGameThread() != 0);
	CVarArtEmEnable->AsVariable()->OnChangedDelegate().AddWeakLambda(
		this, [this](IConsoleVariable* Variable) { Extension->SetEnabled(Variable->GetInt() != 0); });
	ServerChanged = CVarArtEmServer->AsVariable()->OnChangedDelegate().AddUObject(
		this, &UArtEmSubsystem::OnServerVariable);
	StyleChanged = CVarArtEmStyle->AsVariable()->OnChangedDelegate().AddUObject(
		this, &UArtEmSubsystem::OnStyleVariable);
	if (Settings->bConnectOnStart)
	{
		Connect(FString());
	}
}

void UArtEmSubsystem::Deinitialize()
{
	CVarArtEmEnable->AsVariable()->OnChangedDelegate().RemoveAll(this);
	CVarArtEmServer->AsVariable()->OnChangedDelegate().Remove(ServerChanged);
	CVarArtEmStyle->AsVariable()->OnChangedDelegate().Remove(StyleChanged);
	if (Extension.IsValid())
	{
		Extension->SetEnabled(false);  // the renderer drops it with the last reference
		Extension.Reset();
	}
	if (Streamer)
	{
		Streamer->Stop();  // the render thread may still hold it: it stays alive, stopped, until then
	}
	Super::Deinitialize();
}

FString UArtEmSubsystem::AddressOr(const FString& Server) const
{
	if (!Server.IsEmpty())
	{
		return Server;
	}
	const FString Variable = CVarArtEmServer.GetValueOnGameThread();
	return Variable.IsEmpty() ? GetDefault<UArtEmSettings>()->ServerAddress : Variable;
}

void UArtEmSubsystem::Connect(const FString& Server)
{
	const UArtEmSettings* Settings = GetDefault<UArtEmSettings>();
	ArtEm::StreamConfig Config;
	Config.address = ArtEmConvert::ToStd(AddressOr(Server));
	Config.style = ArtEmConvert::ToStd(CurrentStyle);
	Config.strength = CurrentStrength;
	Config.transport = ArtEm::TransportFor(ArtEmConvert::ToCore(Settings->Transport), Config.address,
		PlatformHasSharedMemory());
	Config.credentials = ArtEmConvert::CredentialsOf(*Settings);
	Config.slots = Settings->Slots;
	Streamer->Start(Config);  // the eyes come from the first rendered frame
	Extension->SetConnected(true);
}

void UArtEmSubsystem::Disconnect()
{
	Extension->SetConnected(false);
	Streamer->Stop();
}

void UArtEmSubsystem::ListStyles()
{
	const std::string Address = ArtEmConvert::ToStd(AddressOr(FString()));
	const ArtEm::Credentials Credentials = ArtEmConvert::CredentialsOf(*GetDefault<UArtEmSettings>());
	TWeakObjectPtr<UArtEmSubsystem> WeakThis(this);
	Async(EAsyncExecution::ThreadPool, [Address, Credentials, WeakThis]()
		{
			std::vector<ArtEm::StyleEntry> Entries;
			std::string Why;
			const int Code = ArtEm::ListStyles(Address, StyleListTimeoutMs, &Entries, &Why, Credentials);
			AsyncTask(ENamedThreads::GameThread, [WeakThis, Code, Why, Entries = MoveTemp(Entries)]()
				{
					if (UArtEmSubsystem* Self = WeakThis.Get())
					{
						const FString Error = Code == 0 ? FString()
							: FString::Printf(TEXT("%s (code %d)"), UTF8_TO_TCHAR(Why.c_str()), Code);
						Self->OnStylesListed.Broadcast(Code == 0, Error, ArtEmConvert::ToUnreal(Entries));
					}
				});
		});
}

void UArtEmSubsystem::SetStyle(const FString& Style)
{
	CurrentStyle = Style;
	Streamer->SetStyle(ArtEmConvert::ToStd(Style), CurrentStrength);
}

void UArtEmSubsystem::SetStrength(float Strength)
{
	CurrentStrength = FMath::Clamp(Strength, 0.0f, 1.0f);
	Streamer->SetStyle(ArtEmConvert::ToStd(CurrentStyle), CurrentStrength);
}

void UArtEmSubsystem::SetEnabled(bool bEnabled)
{
	// The variable's callback tells the extension.
	CVarArtEmEnable->Set(bEnabled ? 1 : 0, ECVF_SetByCode);
}

FArtEmStatus UArtEmSubsystem::GetStatus() const
{
	const ArtEm::StreamStatus Status = Streamer->Status();
	FArtEmStatus Out;
	Out.State = UTF8_TO_TCHAR(ArtEm::LinkStateName(Status.state));
	Out.bStreaming = Status.state == ArtEm::LinkState::Streaming;
	Out.Message = ArtEmConvert::ToUnreal(Status.message);
	Out.Summary = ArtEmConvert::ToUnreal(Status.Summary());
	Out.Style = ArtEmConvert::ToUnreal(Status.style);
	Out.RoundTripMs = static_cast<float>(Status.round_trip_ms);
	Out.ServerMs = static_cast<float>(Status.server_ms);
	Out.FramesShown = static_cast<int64>(Status.shown);
	Out.FramesDropped = static_cast<int64>(Status.dropped + Status.superseded);
	Out.FramesSkipped = static_cast<int64>(Status.skipped);
	return Out;
}

void UArtEmSubsystem::OnServerVariable(IConsoleVariable* Variable)
{
	Connect(Variable->GetString());
}

void UArtEmSubsystem::OnStyleVariable(IConsoleVariable* Variable)
{
	if (!Variable->GetString().IsEmpty())
	{
		SetStyle(Variable->GetString());
	}
}
