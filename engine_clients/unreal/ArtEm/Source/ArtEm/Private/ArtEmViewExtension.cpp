#include "ArtEmViewExtension.h"

#include "ArtEmCore/StreamChoices.h"
#include "Engine/GameInstance.h"
#include "Engine/World.h"
#include "GlobalShader.h"
#include "HAL/IConsoleManager.h"
#include "PostProcess/PostProcessMaterialInputs.h"
#include "RenderGraphUtils.h"
#include "RenderTargetPool.h"
#include "SceneInterface.h"
#include "SceneView.h"
#include "ScreenPass.h"
#include "ShaderParameterMacros.h"
#include "StereoRendering.h"

#include <string>

DEFINE_LOG_CATEGORY_STATIC(LogArtEm, Log, All);

BEGIN_SHADER_PARAMETER_STRUCT(FArtEmUploadParameters, )
	RDG_TEXTURE_ACCESS(Texture, ERHIAccess::CopyDest)
END_SHADER_PARAMETER_STRUCT()

namespace
{
// A readback the GPU has not finished this many frames after it was queued is given up.
constexpr uint64 MaxReadbackFrames = 8;

ArtEm::ViewInput ViewInputOf(const FSceneView& View, FIntPoint Size)
{
	ArtEm::ViewInput Input;
	Input.stereo_eye = IStereoRendering::IsStereoEyeView(View);
	Input.stereo_view_index = View.StereoViewIndex;
	Input.width = Size.X;
	Input.height = Size.Y;
	return Input;
}

int32 DisplayOutputDevice()
{
	static const IConsoleVariable* Device =
		IConsoleManager::Get().FindConsoleVariable(TEXT("r.HDR.Display.OutputDevice"));
	return Device != nullptr ? Device->GetInt() : 0;
}

// Draws (converting the format where it differs) `Size` pixels from `Source` at `From` to
// `Target` at `To`.
void DrawTexture(FRDGBuilder& GraphBuilder, const FSceneView& View, FRDGTextureRef Source,
	FIntPoint From, FRDGTextureRef Target, FIntPoint To, FIntPoint Size)
{
	FRDGDrawTextureInfo Info;
	Info.Size = Size;
	Info.SourcePosition = From;
	Info.DestPosition = To;
	AddDrawTexturePass(GraphBuilder, GetGlobalShaderMap(View.GetFeatureLevel()), Source, Target, Info);
}
}  // namespace

FArtEmViewExtension::FArtEmViewExtension(const FAutoRegister& AutoRegister,
	std::shared_ptr<ArtEm::Streamer> InStreamer, UGameInstance* InGameInstance)
	: FSceneViewExtensionBase(AutoRegister)
	, Streamer(MoveTemp(InStreamer))
	, GameInstance(InGameInstance)
{
	Readbacks.SetNum(Ring.Size());
	ReadbackGeneration.SetNumZeroed(Ring.Size());
	ReadbackSize.SetNumZeroed(Ring.Size());
}

bool FArtEmViewExtension::IsActiveThisFrame_Internal(
	const FSceneViewExtensionContext& Context) const
{
	// Only the views of this game instance's world (not the editor's viewports, not other PIE
	// instances).
	if (!bEnabled.load() || !bConnected.load() || !GameInstance.IsValid() || Context.Scene == nullptr)
	{
		return false;
	}
	const UWorld* World = Context.Scene->GetWorld();
	return World != nullptr && World->GetGameInstance() == GameInstance.Get();
}

#if UE_VERSION_OLDER_THAN(5, 5, 0)
void FArtEmViewExtension::SubscribeToPostProcessingPass(
	EPostProcessingPass Pass, FAfterPassCallbackDelegateArray& InOutPassCallbacks, bool bIsPassEnabled)
{
	if (Pass == EPostProcessingPass::Tonemap)
	{
		InOutPassCallbacks.Add(FAfterPassCallbackDelegate::CreateRaw(
			this, &FArtEmViewExtension::AfterTonemap_RenderThread));
	}
}
#else
void FArtEmViewExtension::SubscribeToPostProcessingPass(EPostProcessingPass Pass,
	const FSceneView& InView, FPostProcessingPassDelegateArray& InOutPassCallbacks,
	bool bIsPassEnabled)
{
	if (Pass == EPostProcessingPass::Tonemap)
	{
		InOutPassCallbacks.Add(FPostProcessingPassDelegate::CreateRaw(
			this, &FArtEmViewExtension::AfterTonemap_RenderThread));
	}
}
#endif

void FArtEmViewExtension::PreRenderViewFamily_RenderThread(
	FRDGBuilder& GraphBuilder, FSceneViewFamily& InViewFamily)
{
	// The last frame's views decide the stream's eyes (a resize takes effect one frame later).
	if (!SeenViews.empty())
	{
		ArtEm::StereoLayout Layout;
		std::string Why;
		const ArtEm::ColourChoice Colour = ArtEm::ColourForOutputDevice(DisplayOutputDevice());
		bStreamable = Colour.supported && ArtEm::StereoLayout::Of(SeenViews, &Layout, &Why);
		if (bStreamable)
		{
			Streamer->EnsureLayout(Layout, Colour.linear);
			bWarned = false;
		}
		else if (!bWarned)
		{
			UE_LOG(LogArtEm, Warning, TEXT("ArtEm: not streaming: %s"),
				UTF8_TO_TCHAR((Colour.supported ? Why : Colour.why).c_str()));
			bWarned = true;
		}
		SeenViews.clear();
	}
	LandReadbacks_RenderThread(InViewFamily.FrameNumber);
	UploadNewest_RenderThread(GraphBuilder);
}

void FArtEmViewExtension::LandReadbacks_RenderThread(uint64 FrameNumber)
{
	// Oldest first; stop at the first the GPU has not finished (never wait for it).
	for (int32 Index = Ring.Oldest(); Index >= 0; Index = Ring.Oldest())
	{
		const ArtEm::ReadbackEntry Entry = Ring.Entry(Index);
		FRHIGPUTextureReadback* Readback = Readbacks[Index].Get();
		if (!Readback->IsReady())
		{
			if (!Ring.Overdue(Index, FrameNumber, MaxReadbackFrames))
			{
				break;
			}
			Streamer->ReadbackFailed(Entry.slot, ReadbackGeneration[Index]);
			Ring.Forget(Entry.slot);
			continue;
		}
		int32 RowPitchInPixels = 0;
		const uint8* Pixels = static_cast<const uint8*>(Readback->Lock(RowPitchInPixels));
		const FIntPoint Size = ReadbackSize[Index];
		const bool bTaken = Pixels != nullptr && Streamer->WriteEye(Entry.slot, ReadbackGeneration[Index],
			Entry.eye, ArtEm::EyeSize{Size.X, Size.Y}, Pixels, uint64(RowPitchInPixels) * 4);
		if (!bTaken)
		{
			Streamer->ReadbackFailed(Entry.slot, ReadbackGeneration[Index]);
		}
		Readback->Unlock();
		Ring.Finish(Index);
	}
}

void FArtEmViewExtension::UploadNewest_RenderThread(FRDGBuilder& GraphBuilder)
{
	// The pixels stay where they are (in the Streamer) until the next TakeNewest, a frame later:
	// this graph has run by then.
	ArtEm::StylizedFrame Frame;
	if (!Streamer->TakeNewest(&Frame))
	{
		return;  // the last stylized frame stays on show
	}
	for (int32 Eye = 0; Eye < Frame.layout.Eyes(); ++Eye)
	{
		const FIntPoint Extent(Frame.layout.Eye(Eye).width, Frame.layout.Eye(Eye).height);
		if (!Stylized[Eye].IsValid() || Stylized[Eye]->GetDesc().Extent != Extent)
		{
			const FRDGTextureDesc Desc = FRDGTextureDesc::Create2D(
				Extent, PF_B8G8R8A8, FClearValueBinding::Black, TexCreate_ShaderResource);
			Stylized[Eye] = AllocatePooledTexture(Desc, TEXT("ArtEm.Stylized"));
		}
		FRDGTextureRef Texture = GraphBuilder.RegisterExternalTexture(Stylized[Eye]);
		FArtEmUploadParameters* Parameters = GraphBuilder.AllocParameters<FArtEmUploadParameters>();
		Parameters->Texture = Texture;
		const uint8* Pixels = Frame.eye[Eye];
		GraphBuilder.AddPass(RDG_EVENT_NAME("ArtEm.Upload"), Parameters,
			ERDGPassFlags::Copy | ERDGPassFlags::NeverCull,
			[Texture, Pixels, Extent](FRHICommandListImmediate& RHICmdList)
			{
				const FUpdateTextureRegion2D Region(0, 0, 0, 0, Extent.X, Extent.Y);
				RHICmdList.UpdateTexture2D(Texture->GetRHI(), 0, Region, Extent.X * 4, Pixels);
			});
	}
	ShownLayout = Frame.layout;
}

void FArtEmViewExtension::QueueReadback_RenderThread(
	FRDGBuilder& GraphBuilder, const FSceneView& View, const FScreenPassTexture& SceneColor, int32 Eye)
{
	const int32 Eyes = IStereoRendering::IsStereoEyeView(View) ? 2 : 1;
	const int32 Slot = Grouper.SlotFor(View.Family->FrameNumber,
		[&] { return Ring.Free() >= Eyes ? Streamer->BeginFrame(&FrameGeneration) : -1; });
	if (Slot < 0)
	{
		return;  // not streaming, or the server and the GPU are behind: skip this frame
	}
	const int32 Index = Ring.Begin(Slot, Eye, View.Family->FrameNumber);
	if (Index < 0)
	{
		Streamer->ReadbackFailed(Slot, FrameGeneration);
		Ring.Forget(Slot);
		return;
	}
	if (!Readbacks[Index].IsValid())
	{
		Readbacks[Index] = MakeUnique<FRHIGPUTextureReadback>(TEXT("ArtEm.Readback"));
	}
	const FIntPoint Size = SceneColor.ViewRect.Size();
	ReadbackGeneration[Index] = FrameGeneration;
	ReadbackSize[Index] = Size;
	// The eye's rect as 8-bit BGRA (the tonemapper's output may be 10-bit or float): the stream's
	// format.
	const FRDGTextureDesc Desc = FRDGTextureDesc::Create2D(Size, PF_B8G8R8A8,
		FClearValueBinding::Black, TexCreate_RenderTargetable | TexCreate_ShaderResource);
	FRDGTextureRef Eye8 = GraphBuilder.CreateTexture(Desc, TEXT("ArtEm.Eye"));
	DrawTexture(GraphBuilder, View, SceneColor.Texture, SceneColor.ViewRect.Min, Eye8,
		FIntPoint::ZeroValue, Size);
	AddEnqueueCopyPass(GraphBuilder, Readbacks[Index].Get(), Eye8);
}

FScreenPassTexture FArtEmViewExtension::AfterTonemap_RenderThread(
	FRDGBuilder& GraphBuilder, const FSceneView& View, const FPostProcessMaterialInputs& Inputs)
{
#if UE_VERSION_OLDER_THAN(5, 4, 0)
	const FScreenPassTexture SceneColor(Inputs.GetInput(EPostProcessMaterialInput::SceneColor));
#else
	const FScreenPassTexture SceneColor = FScreenPassTexture::CopyFromSlice(
		GraphBuilder, Inputs.GetInput(EPostProcessMaterialInput::SceneColor));
#endif
	const FScreenPassRenderTarget& Override = Inputs.OverrideOutput;
	const FIntPoint Size = SceneColor.IsValid() ? SceneColor.ViewRect.Size() : FIntPoint::ZeroValue;
	const ArtEm::ViewInput Input = ViewInputOf(View, Size);
	const int32 Eye = ArtEm::StereoLayout::EyeOf(Input);
	const bool bOurs = SceneColor.IsValid() && Eye >= 0 && !View.bIsSceneCapture &&
		!View.bIsReflectionCapture && !View.bIsPlanarReflection;
	if (bOurs)
	{
		if (View.Family->FrameNumber != SeenFrame)
		{
			SeenViews.clear();
			SeenFrame = View.Family->FrameNumber;
		}
		SeenViews.push_back(Input);
		if (bStreamable)
		{
			QueueReadback_RenderThread(GraphBuilder, View, SceneColor, Eye);  // reads the scene as rendered
		}
	}
	switch (ArtEm::ChooseComposite(bOurs, Eye, ShownLayout, {Size.X, Size.Y}, Override.IsValid()))
	{
	case ArtEm::Composite::PassThrough:
		return SceneColor;
	case ArtEm::Composite::CopyToOverride:
		DrawTexture(GraphBuilder, View, SceneColor.Texture, SceneColor.ViewRect.Min, Override.Texture,
			Override.ViewRect.Min, Size);
		return FScreenPassTexture(Override);
	case ArtEm::Composite::DrawStylized:
		break;
	}
	FScreenPassRenderTarget Output = Override;
	if (!Output.IsValid())
	{
		Output = FScreenPassRenderTarget::CreateFromInput(
			GraphBuilder, SceneColor, View.GetOverwriteLoadAction(), TEXT("ArtEm.Composite"));
	}
	DrawTexture(GraphBuilder, View, GraphBuilder.RegisterExternalTexture(Stylized[Eye]),
		FIntPoint::ZeroValue, Output.Texture, Output.ViewRect.Min, Size);
	return FScreenPassTexture(Output);
}
